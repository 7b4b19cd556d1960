

mlpserving_default#
x"ûD¾[d?	?…?y