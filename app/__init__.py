"""image-resizer: an AWS Lambda function that turns images uploaded to S3 into resized copies."""
