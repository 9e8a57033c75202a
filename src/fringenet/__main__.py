from fringenet.cli import main

main()
