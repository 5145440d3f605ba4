"""The deploy's declared resources: the role policy and the CloudFormation template."""
