"""HTTP layer: schemas, auth dependency, error handlers and one thin router per resource."""
