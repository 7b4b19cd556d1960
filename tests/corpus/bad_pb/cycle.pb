

aExpb

bExpa

yExpa