

mlp"canary