

nopesignature_def