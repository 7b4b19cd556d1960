

mlpsignature_def