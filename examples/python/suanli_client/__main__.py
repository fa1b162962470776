from suanli_client.cli import main_exit

main_exit()
