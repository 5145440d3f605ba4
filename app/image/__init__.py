"""Pure pixel work with pyvips: loaders, decode, colour, fit, formats, animation, placeholders."""
