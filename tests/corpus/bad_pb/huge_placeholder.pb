
8
xPlaceholder*
dtype0*
shape:€€€€€€

yExpx