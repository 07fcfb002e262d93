//! AWS STS `AssumeRoleWithWebIdentity` and its cache. (Built with the AWS issue.)
