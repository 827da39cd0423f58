"""What residents ask of the office: inquiries, disclosure/correction/suspension requests and
the body of a disclosure document (holdings).
"""
