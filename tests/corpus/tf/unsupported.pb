
2
xPlaceholder*
dtype0*
shape
:

aFooBarx*
T0
D
bNonMaxSuppressionV9a*
T0*
_output_shapes

:

yExpb*
T0
*
sideConv3DBackpropFilterV7x*
T0

y2Tanhx*
T0

y3Tanhside*
T0