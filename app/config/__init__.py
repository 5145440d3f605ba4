"""The declared configuration: renditions.toml and the environment -> checked profiles."""
