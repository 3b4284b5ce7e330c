//! query-api's read routes against the real PostgreSQL and FerretDB that `make test`
//! provisions (modules follow with the routes' tests).
