# bash completion for recctl(1)                       -*- shell-script -*-
# Installed as share/bash-completion/completions/recctl.  Works without
# the bash-completion package too (then files are completed by compgen).

_recctl_cmds="get stat why ls put rm update incr edit log show diff watch wait fsck dump stats compact help"

_recctl_files() { # [-d]: files (or directories only) matching $cur
	if declare -F _filedir > /dev/null; then
		_filedir "$@"
	elif [ "$1" = -d ]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

# PATH@N: the kept versions, from the daemon's .recfs/history tree at the
# root of the mount that holds PATH.
_recctl_versions() {
	local path=${cur%@*} abs root key v
	abs=$(realpath -m -- "$path" 2> /dev/null) || return
	root=$(dirname -- "$abs")
	# (only at a mount's root: below it .recfs is a name like any other)
	while [ "$root" != / ] && { [ ! -d "$root/.recfs" ] ||
		[ "$(stat -c %d -- "$root")" = "$(stat -c %d -- "$root/..")" ]; }; do
		root=$(dirname -- "$root")
	done
	[ -d "$root/.recfs/history" ] || return
	key=${abs#"$root"/}
	COMPREPLY=()
	for v in "$root/.recfs/history/$key"/*; do
		v=${v##*/}
		[[ $v =~ ^[0-9]+$ ]] || continue
		[[ "$path@$v" == "$cur"* ]] && COMPREPLY+=("$path@$v")
	done
	compopt -o nosort 2> /dev/null
}

_recctl() {
	local cur prev words cword sub i opts=""
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	cword=$COMP_CWORD
	words=("${COMP_WORDS[@]}")

	if [ "$cword" -eq 1 ]; then
		mapfile -t COMPREPLY < <(compgen -W "$_recctl_cmds --help --version" -- "$cur")
		return
	fi
	sub=${words[1]}

	# update PATH -- CMD ...: after "--", complete the command and its
	# arguments as bash would.
	if [ "$sub" = update ]; then
		for ((i = 2; i < cword; i++)); do
			if [ "${words[i]}" = -- ]; then
				if declare -F _command_offset > /dev/null; then
					_command_offset $((i + 1))
				elif [ "$cword" -eq $((i + 1)) ]; then
					mapfile -t COMPREPLY < <(compgen -c -- "$cur")
				else
					_recctl_files
				fi
				return
			fi
		done
	fi

	case $prev in
	--expect | --tries | --from | --count | --above | --timeout)
		return # a number: nothing to offer
		;;
	esac

	case $sub in
	get) opts="--version" ;;
	stat) opts="--json" ;;
	put | rm) opts="--expect" ;;
	update) opts="--tries --" ;;
	incr) opts="--tries --value" ;;
	watch) opts="--from --count" ;;
	wait) opts="--above --timeout" ;;
	fsck) opts="--repair" ;;
	help)
		[ "$cword" -eq 2 ] &&
			mapfile -t COMPREPLY < <(compgen -W "$_recctl_cmds" -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts --help" -- "$cur")
		return
	fi
	case $sub in
	ls | fsck | dump | stats | compact) _recctl_files -d ;;
	show | diff)
		if [[ $cur == *@* ]]; then
			_recctl_versions
		else
			_recctl_files
		fi
		;;
	*) _recctl_files ;;
	esac
}
complete -F _recctl recctl
