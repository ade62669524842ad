from hybridports.cli import main

main()
