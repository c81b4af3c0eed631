#!/bin/bash
# help2man's view of a program with subcommands: `man-help.sh BINARY NAME --help` prints NAME's own
# help, then every subcommand's (found in the "Subcommands:" lists, recursively) under a heading of
# its own, so that one man page documents every command and stays in step with the code.
set -euo pipefail

binary=$1
name=$2
shift 2
if [[ ${1:-} != --help ]]; then
  echo "usage: man-help.sh BINARY NAME --help" >&2
  exit 2
fi

# The help of `NAME ARGS...`, with NAME (not the build path) in its usage line.
help_of() { (exec -a "$name" "$binary" "$@" --help); }

# The names listed under "Subcommands:" in a help text on stdin.
subcommands_in() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} /^$/ {on = 0}'; }

# Prints the help of each subcommand below `NAME ARGS...`, depth first.
print_subcommands() {
  local text sub
  text=$(help_of "$@")
  for sub in $(subcommands_in <<<"$text"); do
    echo
    # help2man makes a section of a line "*Name*"; the description and usage are indented into it,
    # the options follow without the ubiquitous --help. CLI11 leaves a single space between a long
    # option and its default and its description ("--scheduler-interval INT=10 Seconds ..."); help2man
    # needs two. A positional without a description ("  INPUT TEXT REQUIRED   ") is a paragraph.
    echo "*Command $name${*:+ $*} $sub*"
    help_of "$@" "$sub" | grep -v -e '^ *-h,--help' -e '^Options:$' -e '^Subcommands:$' |
      sed -e '/^[^ ].*[^:]$/{s/^/  /;s/$/\n/}' \
          -e 's/^\(  --[^ ]* [^ ]*=[^ ]*\) \([A-Z]\)/\1  \2/' \
          -e '/^  [A-Z].* $/{s/ *$//;s/$/\n/}' | cat -s
    print_subcommands "$@" "$sub"
  done
}

help_of
print_subcommands
