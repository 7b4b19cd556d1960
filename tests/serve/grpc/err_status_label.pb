

mlp"nope