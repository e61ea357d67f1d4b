"""RQ jobs and the simulated provider. Importing this package builds no app."""
