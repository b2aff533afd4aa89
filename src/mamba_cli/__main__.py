from mamba_cli.main import main

main()
