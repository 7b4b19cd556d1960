
2
xPlaceholder*
dtype0*
shape
:
K
shConst*
dtype0	*1
value(B&	R€€€€€€€€@€€€€€€€€@ÿÿÿÿÿÿÿÿÿ

yReshapexsh