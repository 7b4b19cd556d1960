
1
xPlaceholder*
dtype0*
shape	:€€€
1
yPlaceholder*
dtype0*
shape	:€€€

zAddV2xy*
T0"ª