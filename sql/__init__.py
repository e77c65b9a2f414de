"""The warehouse's SQL (see README.md here), a package only so that its files travel as
package data: the code finds them with `importlib.resources.files("sql")`, from a
checkout, an editable install or a wheel alike."""
