
2
xPlaceholder*
dtype0*
shape
:
@
mConst*
dtype0	*'
valueB	R€€€€€€€€@€€€€€€€€@

yTilexm