from kubectl_rollback.cli import main

main()
