package main

import (
	"fmt"
	"os"
)

const usage = `usage: conformance run [flags]     run the validation suite (see -h)
       conformance exec PROGRAM       run one validation program (prove's --exec hook)`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "run":
		code = runMain(os.Args[2:])
	case "exec":
		code = execMain(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		code = 2
	}
	os.Exit(code)
}
