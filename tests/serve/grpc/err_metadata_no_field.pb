

mlp