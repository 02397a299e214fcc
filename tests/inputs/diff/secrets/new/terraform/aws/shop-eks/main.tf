resource "aws_db_instance" "shop" {
  username = "admin"
  password = "swordfish"
  kms_key_id = aws_kms_key.db.arn
}
