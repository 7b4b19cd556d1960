

mlp"stablesignature_def