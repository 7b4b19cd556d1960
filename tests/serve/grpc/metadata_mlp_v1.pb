
	
mlpsignature_def