"""Where the deployment records live: :mod:`metering.chain.deployment` (moved there so that the CLI's reads find a
recorded deployment block without importing the provider's web3 client). This name stays for the library's users."""

from metering.chain.deployment import (
    DEPLOYMENTS_ENV,
    Deployment,
    DeploymentFiles,
    default_deployments_dir,
    deployment_file,
    describe_deployment,
    find_deployment,
    load_deployment,
    prepare_directory,
    write_deployment,
    write_sourcify_files,
)

__all__ = [
    "DEPLOYMENTS_ENV",
    "Deployment",
    "DeploymentFiles",
    "default_deployments_dir",
    "deployment_file",
    "describe_deployment",
    "find_deployment",
    "load_deployment",
    "prepare_directory",
    "write_deployment",
    "write_sourcify_files",
]
