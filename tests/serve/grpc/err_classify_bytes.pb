

mlp




x

abcd