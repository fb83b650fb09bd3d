from inboxbot.cli.app import main

main()
