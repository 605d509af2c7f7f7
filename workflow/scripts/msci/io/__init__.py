"""Reading competition files, writing and reading workflow artifacts, checking inputs."""
