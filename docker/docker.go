// Package docker holds the recipes of keystorm's container images, embedded
// so that the keystorm binary can build the images from any working
// directory: base/ names the Debian suite and packages of the base image
// (bootstrapped with debootstrap, then imported), hsm/ and kms/ are the
// Dockerfiles built on it. Package fakes/images builds them; README.md says
// what each image is.
package docker

import "embed"

// Files are the recipes: base/suite, base/packages, hsm/Dockerfile,
// hsm/softhsm2.conf and kms/Dockerfile.
//
//go:embed base hsm kms
var Files embed.FS
