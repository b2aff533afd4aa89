"""The `mamba` command: presentation over the `mamba_agents` engine."""
