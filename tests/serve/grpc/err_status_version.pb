
	
mlp