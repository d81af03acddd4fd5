module github.com/courier-go/courier/middleware/ratelimit

go 1.26.0

require github.com/courier-go/courier v0.0.0-00010101000000-000000000000

require golang.org/x/time v0.16.0

replace github.com/courier-go/courier => ../..
