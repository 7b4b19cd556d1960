# tests/support/fixture_args.sh — sourced by the per-case scripts (guard_case.sh,
# cross_case.sh, fw_case.sh): the kiln options, input files, reference files
# and tolerance of fixture directory $d (docs/fixtures.md, fixture.txt).
feeds=$(awk '$1=="feed"{printf "--feed %s ", $2}' "$d/fixture.txt")
fetches=$(awk '$1=="fetch"{printf "--fetch %s ", $2}' "$d/fixture.txt")
files=$(awk -v d="$d" '$1=="feed"{printf "%s/%s ", d, $3}' "$d/fixture.txt")
refs=$(awk -v d="$d" '$1=="fetch"{printf "%s/%s ", d, $3}' "$d/fixture.txt")
tol=$(awk '$1=="tol"{print $2, $3}' "$d/fixture.txt")
[ -n "$tol" ] || tol="1e-5 1e-6"
