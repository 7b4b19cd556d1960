
,
kConst*
dtype0*
value
B

yExpk