package daemon

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"rsc.io/qr"
)

// The QR code of a send: its ferry: link, drawn as a PNG here (no script
// and no network on the page), black modules on white with the four-module
// quiet zone that scanners need.

const (
	qrScale = 8 // pixels per module
	qrQuiet = 4 // modules of white around the code
)

func qrPNG(text string) ([]byte, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	side := (c.Size + 2*qrQuiet) * qrScale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if !c.Black(x, y) {
				continue
			}
			for dy := 0; dy < qrScale; dy++ {
				row := img.PixOffset((x+qrQuiet)*qrScale, (y+qrQuiet)*qrScale+dy)
				for dx := 0; dx < qrScale; dx++ {
					img.Pix[row+dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	return b.Bytes(), nil
}
