package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/internal/atomicfile"
)

// Thumbnails: a small JPEG of an image attachment (JPEG, PNG or GIF), made
// when the page first asks for it and kept in HOME/cache/thumbs/<hash>.jpg
// (0600), so that a page of photos costs a few small files. An image's
// header is read first, and one whose pixels would take more than
// thumbMaxBytes of memory (a "decompression bomb": a few bytes that claim
// 100000 × 100000 pixels) is refused before anything is decoded. One
// image is decoded at a time.

const (
	thumbSize      = 480      // the longer side of a thumbnail, in pixels
	thumbMaxSource = 64 << 20 // larger files get no thumbnail
	thumbMaxSide   = 16384
	thumbMaxBytes  = 96 << 20 // the decoded pixels of one image
	thumbQuality   = 82
	thumbDir       = "cache/thumbs"
)

// errNoThumb means an attachment gets no thumbnail; the page shows it as a file.
var errNoThumb = errors.New("no preview")

// thumbable reports whether a stored MIME type is one that thumbnails are
// made of. The bytes decide in the end: the decoder is chosen by their
// signature, not by what the sender said.
func thumbable(stored string) bool {
	t, _, _ := mime.ParseMediaType(stored)
	return t == "image/jpeg" || t == "image/png" || t == "image/gif"
}

func (w *WebServer) thumbnail(rw http.ResponseWriter, r *http.Request) {
	f, file, ok := w.openMedia(rw, r)
	if !ok {
		return
	}
	defer file.Close()
	h := rw.Header()
	h.Set("Content-Security-Policy", webMediaCSP)
	cache := filepath.Join(w.home, filepath.FromSlash(thumbDir), f.Hash.String()+".jpg")
	if b, err := os.ReadFile(cache); err == nil && len(b) > 0 {
		serveThumb(rw, b)
		return
	}
	if !thumbable(f.MIME) || f.Size > thumbMaxSource {
		writeError(rw, http.StatusUnprocessableEntity, "no preview for this file")
		return
	}
	select {
	case w.thumb <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	b, err := makeThumb(file, thumbMaxBytes)
	<-w.thumb
	if err != nil {
		w.log.Info("web app: no thumbnail", "attachment", f.ID, "err", err)
		writeError(rw, http.StatusUnprocessableEntity, "no preview for this image: "+err.Error())
		return
	}
	if err := writeThumb(cache, b); err != nil {
		w.log.Warn("web app: cannot keep a thumbnail", "err", err)
	}
	serveThumb(rw, b)
}

func serveThumb(rw http.ResponseWriter, b []byte) {
	h := rw.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	rw.Write(b)
}

// makeThumb decodes the image in r (JPEG, PNG or GIF, told by its first
// bytes), after checking from its header that its pixels take at most
// maxBytes, and returns a JPEG of it at most thumbSize on its longer side.
func makeThumb(r io.ReadSeeker, maxBytes int64) ([]byte, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(8)
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decode       func(io.Reader) (image.Image, error)
	)
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		decodeConfig, decode = png.DecodeConfig, png.Decode
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		decodeConfig, decode = gif.DecodeConfig, gif.Decode
	default:
		return nil, fmt.Errorf("%w: not a JPEG, PNG or GIF image", errNoThumb)
	}
	cfg, err := decodeConfig(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoThumb, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > thumbMaxSide || cfg.Height > thumbMaxSide ||
		int64(cfg.Width)*int64(cfg.Height)*bytesPerPixel(cfg.ColorModel) > maxBytes {
		return nil, fmt.Errorf("%w: the image is %d × %d pixels, too large to preview", errNoThumb, cfg.Width, cfg.Height)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, err := decode(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoThumb, err)
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, scaleDown(img, thumbSize), &jpeg.Options{Quality: thumbQuality}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// bytesPerPixel is about how much memory a decoded pixel of model takes.
func bytesPerPixel(model color.Model) int64 {
	switch model {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := model.(color.Palette); ok {
		return 1
	}
	return 4
}

// scaleDown returns img shrunk to fit a size × size square (never enlarged),
// each pixel the average of up to 4 × 4 samples of the area it covers,
// composed over white (a JPEG has no transparency).
func scaleDown(img image.Image, size int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if sw > size || sh > size {
		if sw >= sh {
			dw, dh = size, max(1, sh*size/sw)
		} else {
			dw, dh = max(1, sw*size/sh), size
		}
	}
	at := rgbaAt(img)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := b.Min.Y+y*sh/dh, b.Min.Y+max((y+1)*sh/dh, y*sh/dh+1)
		for x := 0; x < dw; x++ {
			x0, x1 := b.Min.X+x*sw/dw, b.Min.X+max((x+1)*sw/dw, x*sw/dw+1)
			var r, g, bl, a, n uint64
			ys, ny := taps(y0, y1)
			xs, nx := taps(x0, x1)
			for _, sy := range ys[:ny] {
				for _, sx := range xs[:nx] {
					cr, cg, cb, ca := at(sx, sy)
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			// Premultiplied colour over white: c + (1 - alpha).
			white := 0xffff*n - a
			i := dst.PixOffset(x, y)
			dst.Pix[i+0] = uint8((r + white) / n >> 8)
			dst.Pix[i+1] = uint8((g + white) / n >> 8)
			dst.Pix[i+2] = uint8((bl + white) / n >> 8)
			dst.Pix[i+3] = 0xff
		}
	}
	return dst
}

// taps picks up to 4 sample positions spread over [lo, hi).
func taps(lo, hi int) (out [4]int, n int) {
	n = min(hi-lo, 4)
	for k := 0; k < n; k++ {
		out[k] = lo + (2*k+1)*(hi-lo)/(2*n)
	}
	return out, n
}

// rgbaAt reads pixels of img as premultiplied 16-bit RGBA, without boxing a
// color.Color per pixel for the image types the decoders return.
func rgbaAt(img image.Image) func(x, y int) (r, g, b, a uint32) {
	switch m := img.(type) {
	case *image.YCbCr:
		return func(x, y int) (uint32, uint32, uint32, uint32) { return m.YCbCrAt(x, y).RGBA() }
	case *image.RGBA:
		return func(x, y int) (uint32, uint32, uint32, uint32) { return m.RGBAAt(x, y).RGBA() }
	case *image.NRGBA:
		return func(x, y int) (uint32, uint32, uint32, uint32) { return m.NRGBAAt(x, y).RGBA() }
	case *image.Gray:
		return func(x, y int) (uint32, uint32, uint32, uint32) { return m.GrayAt(x, y).RGBA() }
	case *image.Paletted:
		return func(x, y int) (uint32, uint32, uint32, uint32) {
			i := int(m.ColorIndexAt(x, y))
			if i >= len(m.Palette) {
				return 0, 0, 0, 0
			}
			return m.Palette[i].RGBA()
		}
	}
	return func(x, y int) (uint32, uint32, uint32, uint32) { return img.At(x, y).RGBA() }
}

// writeThumb keeps a thumbnail in the cache (directory 0700, file 0600),
// whole or not at all.
func writeThumb(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}
