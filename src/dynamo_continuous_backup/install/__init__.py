"""Installing the product in an account: the deploy planner and executor, IAM policies, the
Lambda zip and the CloudFormation template. Imports core, snapshot and provisioning."""
