
.
xPlaceholder*
dtype0*
shape:
.
xPlaceholder*
dtype0*
shape: