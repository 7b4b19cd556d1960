
0
kConst*
dtype0*
valueBBhi

yIdentityk