from director.cli import main

main()
