#!/bin/sh
# The header's P_UNDEFINED_SYMBOLS must list exactly what `nm -u` finds in
# the object (docs/header-api.md).  Prints a line and fails otherwise.
#   undef_header.sh NM OBJECT HEADER PREFIX
set -u
nm=$1 obj=$2 hdr=$3 p=$(echo "$4" | tr '[:lower:]' '[:upper:]')
line=$(grep "^#define ${p}_UNDEFINED_SYMBOLS " "$hdr") || { echo "header $hdr has no ${p}_UNDEFINED_SYMBOLS"; exit 1; }
said=$(echo "$line" | sed 's/^[^"]*"\([^"]*\)".*/\1/' | tr ' ' '\n' | grep . | LC_ALL=C sort | tr '\n' ' ')
list=$("$nm" -u "$obj") || { echo "$nm -u $obj failed"; exit 1; }
has=$(echo "$list" | awk 'NF {print $NF}' | LC_ALL=C sort | tr '\n' ' ')
[ "$said" = "$has" ] || { echo "header says undefined '$said', nm -u of the object says '$has'"; exit 1; }
