

pairsignature_def