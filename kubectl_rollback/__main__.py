from kubectl_rollback.launch import plugin

plugin()
