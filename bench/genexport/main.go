// Command genexport writes a made-up chat export of any size for
// bench/import.sh, streaming it:
//
//	genexport -format whatsapp|whatsapp-zip|telegram -messages N -out FILE
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ferryhq/ferry/internal/exportgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genexport: "+err.Error())
		os.Exit(1)
	}
}

func run() error {
	format := flag.String("format", "whatsapp", "whatsapp, whatsapp-zip or telegram")
	messages := flag.Int("messages", 1000000, "number of messages")
	seed := flag.Uint64("seed", 1, "the same seed writes the same export")
	out := flag.String("out", "", "file to write")
	flag.Parse()
	if *out == "" {
		return fmt.Errorf("-out FILE is required")
	}
	write := map[string]func(*os.File, exportgen.Options) error{
		"whatsapp":     func(f *os.File, o exportgen.Options) error { return exportgen.WriteWhatsApp(f, o) },
		"whatsapp-zip": func(f *os.File, o exportgen.Options) error { return exportgen.WriteWhatsAppZip(f, o) },
		"telegram":     func(f *os.File, o exportgen.Options) error { return exportgen.WriteTelegram(f, o) },
	}[*format]
	if write == nil {
		return fmt.Errorf("unknown -format %q", *format)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := write(f, exportgen.Options{Messages: *messages, Seed: *seed}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
