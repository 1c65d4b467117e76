from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0009_message_arm_send_time'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='sent_local_hour',
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='message',
            name='sent_local_weekday',
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
    ]
